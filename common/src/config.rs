//! Typed configuration, read from the environment in production and from a
//! map in tests (the same parsing code either way, so tests exercise it).

use std::{collections::HashMap, fmt, str::FromStr, time::Duration};

use anyhow::Context as _;

/// A secret that never prints (not in `Debug`, not in logs).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where settings come from: [`Env`] or a `HashMap` of the same names.
pub trait Source {
    /// The raw value, `None` when unset.
    fn raw(&self, name: &str) -> Option<String>;

    /// The value, `None` when unset or blank.
    fn var(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.trim().is_empty())
    }

    fn var_or(&self, name: &str, default: &str) -> String {
        self.var(name).unwrap_or_else(|| default.to_owned())
    }

    fn required(&self, name: &str) -> anyhow::Result<String> {
        self.var(name)
            .with_context(|| format!("setting {name} must be given"))
    }

    fn secret(&self, name: &str) -> anyhow::Result<Secret> {
        self.required(name).map(Secret)
    }

    /// Parses the value, or gives `default` when it is unset.
    fn parse_or<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.var(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("setting {name}={raw:?} is invalid: {e}")),
        }
    }

    /// A duration given in whole seconds.
    fn seconds_or(&self, name: &str, default_secs: u64) -> anyhow::Result<Duration> {
        self.parse_or(name, default_secs).map(Duration::from_secs)
    }

    /// A duration given in milliseconds.
    fn millis_or(&self, name: &str, default_ms: u64) -> anyhow::Result<Duration> {
        self.parse_or(name, default_ms).map(Duration::from_millis)
    }
}

/// The process environment.
#[derive(Debug)]
pub struct Env;

impl Source for Env {
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn raw(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Shorthand for reading one variable of the process environment.
pub fn var(name: &str) -> Option<String> {
    Env.var(name)
}
