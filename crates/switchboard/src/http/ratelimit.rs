//! Rate limits per client IP, per tenant (by plan) and per sign-in account.
//! In-process (governor's GCRA) by default; with `REDIS_URL`, the same GCRA
//! runs as a Lua script in Redis so that every node shares the counters.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// `burst` requests at once, refilling one every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    pub interval: Duration,
    pub burst: u32,
}

impl Limit {
    /// `rate` per second with a burst of twice that.
    pub fn per_second(rate: u32) -> Self {
        let rate = rate.max(1);
        Self {
            interval: Duration::from_secs(1) / rate,
            burst: rate.saturating_mul(2),
        }
    }

    /// `count` per minute with a burst of `count`.
    pub fn per_minute(count: u32) -> Self {
        let count = count.max(1);
        Self {
            interval: Duration::from_secs(60) / count,
            burst: count,
        }
    }
}

pub enum RateLimiter {
    Local(LocalLimiter),
    /// Boxed: a Redis connection manager is several times a local limiter.
    Redis(Box<RedisLimiter>),
}

impl RateLimiter {
    /// `Ok` to go ahead, or how long to wait.
    pub async fn check(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        match self {
            RateLimiter::Local(l) => l.check(bucket, limit),
            RateLimiter::Redis(r) => r.check(bucket, limit).await,
        }
    }

    /// `Ok` to go ahead, or the 429 problem saying when to come back.
    pub async fn admit(&self, bucket: &str, limit: Limit) -> Result<(), super::problem::Problem> {
        self.check(bucket, limit)
            .await
            .map_err(|wait| super::problem::Problem::too_many_requests(retry_after_secs(wait)))
    }
}

#[derive(Default)]
pub struct LocalLimiter {
    by_limit: Mutex<HashMap<Limit, Arc<DefaultKeyedRateLimiter<String>>>>,
}

impl LocalLimiter {
    fn limiter(&self, limit: Limit) -> Arc<DefaultKeyedRateLimiter<String>> {
        let mut map = self.by_limit.lock().expect("not poisoned");
        map.entry(limit)
            .or_insert_with(|| {
                let quota = Quota::with_period(limit.interval.max(Duration::from_nanos(1)))
                    .expect("non-zero period")
                    .allow_burst(NonZeroU32::new(limit.burst.max(1)).expect("at least 1"));
                Arc::new(DefaultKeyedRateLimiter::keyed(quota))
            })
            .clone()
    }

    fn check(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        let limiter = self.limiter(limit);
        limiter
            .check_key(&bucket.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys whose buckets are full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        for limiter in self.by_limit.lock().expect("not poisoned").values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// GCRA over Redis: the key holds the theoretical arrival time in ms.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 0
"#;

pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
}

impl RedisLimiter {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            script: redis::Script::new(GCRA),
        })
    }

    async fn check(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        let interval_ms = limit.interval.as_millis().max(1) as u64;
        let mut conn = self.conn.clone();
        let wait: Result<u64, _> = self
            .script
            .key(format!("switchboard:rl:{bucket}"))
            .arg(interval_ms)
            .arg(limit.burst.max(1))
            .invoke_async(&mut conn)
            .await;
        match wait {
            Ok(0) => Ok(()),
            Ok(ms) => Err(Duration::from_millis(ms)),
            Err(e) => {
                // Failing open keeps the product up when Redis is not; the
                // outage is visible in logs and metrics.
                tracing::warn!(error = %e, "rate limiter unavailable; allowing the request");
                metrics::counter!("switchboard_rate_limiter_errors_total").increment(1);
                Ok(())
            }
        }
    }
}

/// Whole seconds to put in `Retry-After`, never 0 (a limiter's waits are
/// at most its interval; a longer one is told as about 136 years).
pub fn retry_after_secs(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()));
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_limiter_allows_the_burst_then_refuses() {
        let l = RateLimiter::Local(LocalLimiter::default());
        let limit = Limit {
            interval: Duration::from_secs(60),
            burst: 3,
        };
        for _ in 0..3 {
            assert!(l.check("ip:1", limit).await.is_ok());
        }
        let wait = l.check("ip:1", limit).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(
            l.check("ip:2", limit).await.is_ok(),
            "buckets are independent"
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}
