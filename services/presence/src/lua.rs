//! Lua scripts: the steps that must be atomic (a person's first socket, their
//! last one, the sweeper's transitions) run inside Redis as one script each.

use std::sync::OnceLock;

use fred::{
    clients::Client,
    error::Error as RedisError,
    interfaces::LuaInterface,
    types::{FromValue, Key, Value},
};

pub static OPEN: Script = Script::new(include_str!("lua/open.lua"));
pub static CLOSE: Script = Script::new(include_str!("lua/close.lua"));
pub static SWEEP: Script = Script::new(include_str!("lua/sweep.lua"));

/// A script run by its SHA1 (`EVALSHA`), so its text crosses the network only
/// when Redis does not have it yet (first use, or after a Redis restart).
pub struct Script {
    source: &'static str,
    /// The digest Redis gave on `SCRIPT LOAD`; it never changes for a source.
    sha: OnceLock<String>,
}

impl Script {
    const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: OnceLock::new(),
        }
    }

    pub async fn run<R: FromValue>(
        &self,
        client: &Client,
        keys: Vec<Key>,
        args: Vec<Value>,
    ) -> Result<R, RedisError> {
        if let Some(sha) = self.sha.get() {
            match client
                .evalsha(sha.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(e) if e.details().starts_with("NOSCRIPT") => {}
                answer => return answer,
            }
        }
        let sha: String = client.script_load(self.source).await?;
        let _ = self.sha.set(sha.clone());
        client.evalsha(sha, keys, args).await
    }
}
