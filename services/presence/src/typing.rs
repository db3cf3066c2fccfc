//! Typing indicators: a key per pair that lapses by itself, and a throttle.

use fred::{
    error::Error as RedisError,
    interfaces::KeysInterface,
    types::{Expiration, SetOptions, Value},
};

use crate::{
    domain::UserId,
    keys,
    store::{Store, millis},
};

impl Store {
    /// Records that `user` types (or stopped typing) to `partner`; answers
    /// whether this goes to the partner. `typing:true` refreshes the pair's key
    /// (it lapses after the typing TTL) and goes out at most once per throttle
    /// interval; `typing:false` clears the key and the throttle and always goes
    /// out (so a `typing:true` right after it is not swallowed).
    pub(crate) async fn set_typing(
        &self,
        user: UserId,
        partner: UserId,
        typing: bool,
    ) -> Result<bool, RedisError> {
        let key = keys::typing(user, partner);
        let throttle = keys::typing_throttle(user, partner);
        if !typing {
            let _: i64 = self.client()?.del(vec![key, throttle]).await?;
            return Ok(true);
        }
        let pipeline = self.client()?.pipeline();
        let ttl = millis(self.timings.typing_ttl);
        let () = pipeline
            .set(key, 1, Some(Expiration::PX(ttl)), None, false)
            .await?;
        let gap = millis(self.timings.typing_throttle).max(1);
        let () = pipeline
            .set(
                throttle,
                1,
                Some(Expiration::PX(gap)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        let answers: Vec<Value> = pipeline.all().await?;
        // The NX set answers nil while the throttle key lives.
        Ok(answers.get(1).is_some_and(|v| !v.is_null()))
    }
}
