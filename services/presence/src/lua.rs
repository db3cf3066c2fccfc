//! Lua scripts: the steps that must be atomic (a person's first socket, their
//! last one, the sweeper's transitions) run inside Redis as one script each,
//! called by SHA1 (`EVALSHA`, fred's [`Script`]) so the text crosses the
//! network only when Redis does not have it yet (first use, or after a
//! Redis restart: `evalsha_with_reload` loads it and calls again).

use std::sync::LazyLock;

use fred::types::scripts::Script;

pub(crate) static OPEN: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("lua/open.lua")));
pub(crate) static CLOSE: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("lua/close.lua")));
pub(crate) static SWEEP: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("lua/sweep.lua")));
