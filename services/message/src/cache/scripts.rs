//! The service's Lua scripts (the cache's, and admission's), as fred's
//! [`Script`]: called by SHA (`EVALSHA`, the SHA1 computed here), so a round
//! of hundreds of calls does not send the script text hundreds of times. A
//! Redis without the script (first use, or restarted) answers `NOSCRIPT`;
//! `evalsha_with_reload` then loads it and calls again.

use std::sync::LazyLock;

use fred::{
    error::Error as RedisError,
    types::{ClusterHash, CustomCommand, Value, scripts::Script},
};

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::from_lua(concat!(include_str!("common.lua"), include_str!($file)))
        });
    };
}

script!(READ, "read.lua");
script!(FILL_LIST, "fill_list.lua");
script!(FILL_SET, "fill_set.lua");
script!(ROUND, "round.lua");
script!(STATUS, "status.lua");
script!(ADMIT, "admit.lua");

/// A pipelined `EVALSHA` that found no script: the caller calls again with
/// `evalsha_with_reload`.
pub(crate) fn is_noscript(e: &RedisError) -> bool {
    e.details().starts_with("NOSCRIPT")
}

/// `EVALSHA` of `script` on `keys` with `args`, as a custom command: fred's
/// pipelines have no `evalsha` (`LuaInterface` is not theirs).
pub(crate) fn evalsha_command(
    script: &Script,
    keys: &[String],
    args: &[Value],
) -> (CustomCommand, Vec<Value>) {
    let mut all = Vec::with_capacity(2 + keys.len() + args.len());
    all.push(Value::from(script.sha1().clone()));
    all.push((keys.len() as i64).into());
    all.extend(keys.iter().map(|k| Value::from(k.as_str())));
    all.extend(args.iter().cloned());
    (
        CustomCommand::new_static("EVALSHA", ClusterHash::FirstKey, false),
        all,
    )
}
