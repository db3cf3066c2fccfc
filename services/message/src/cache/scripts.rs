//! The service's Lua scripts (the cache's, and admission's), called by SHA (`EVALSHA`) so a round of hundreds
//! of calls does not send the script text hundreds of times. The SHA comes
//! from `SCRIPT LOAD` the first time; a Redis that lost its script cache
//! (restarted) answers `NOSCRIPT`, and the call is repeated with `EVAL`, which
//! runs the script and caches it again.

use std::sync::OnceLock;

use fred::{
    clients::Client,
    error::Error as RedisError,
    interfaces::LuaInterface,
    types::{ClusterHash, CustomCommand, FromValue, Value},
};

pub struct LuaScript {
    lua: &'static str,
    sha: OnceLock<String>,
}

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub static $name: LuaScript = LuaScript {
            lua: concat!(include_str!("common.lua"), include_str!($file)),
            sha: OnceLock::new(),
        };
    };
}

script!(READ, "read.lua");
script!(FILL_LIST, "fill_list.lua");
script!(FILL_SET, "fill_set.lua");
script!(ROUND, "round.lua");
script!(STATUS, "status.lua");
script!(ADMIT, "admit.lua");

const ALL: [&LuaScript; 6] = [&READ, &FILL_LIST, &FILL_SET, &ROUND, &STATUS, &ADMIT];

/// Learns the SHA of every script not known yet (in effect once per
/// process), in one round trip.
pub async fn learn(client: &Client) {
    let unknown = ALL.iter().filter(|s| s.sha.get().is_none());
    let loads = unknown.map(|script| async move {
        match client.script_load::<String, _>(script.lua).await {
            Ok(sha) => {
                let _ = script.sha.set(sha);
            }
            Err(e) => tracing::debug!(error = %e, "SCRIPT LOAD failed; using EVAL"),
        }
    });
    futures::future::join_all(loads).await;
}

pub fn is_noscript(e: &RedisError) -> bool {
    e.details().starts_with("NOSCRIPT")
}

impl LuaScript {
    /// The command calling the script on `keys` with `args`: `EVALSHA` when
    /// the SHA is known (and `by_sha`), else `EVAL`.
    pub fn command(
        &self,
        by_sha: bool,
        keys: &[String],
        args: &[Value],
    ) -> (CustomCommand, Vec<Value>) {
        let (name, head): (&'static str, Value) = match self.sha.get() {
            Some(sha) if by_sha => ("EVALSHA", sha.as_str().into()),
            _ => ("EVAL", self.lua.into()),
        };
        let mut all = Vec::with_capacity(2 + keys.len() + args.len());
        all.push(head);
        all.push((keys.len() as i64).into());
        all.extend(keys.iter().map(|k| Value::from(k.as_str())));
        all.extend(args.iter().cloned());
        (
            CustomCommand::new_static(name, ClusterHash::FirstKey, false),
            all,
        )
    }

    /// Calls the script once (not in a pipeline).
    pub async fn call<R: FromValue>(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, RedisError> {
        if self.sha.get().is_none() {
            learn(client).await;
        }
        if let Some(sha) = self.sha.get() {
            match client
                .evalsha(sha.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(e) if is_noscript(&e) => {}
                answer => return answer,
            }
        }
        client.eval(self.lua, keys, args).await
    }
}
