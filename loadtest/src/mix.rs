//! Who subscribes to what: the client mix of a scenario, decided before the first connect.
//!
//! Each client gets a [`Class`] (firehose, `k` uniformly chosen symbols, or `k` Zipf-popular
//! symbols), a [`Role`] (fast, slow, paused) and whether it takes part in the reconnect storm.
//! Counts are exact (largest remainder) and the order is shuffled with a seeded generator, so the
//! same flags give the same clients on every run, spread evenly over the client threads.

use std::fmt;
use std::str::FromStr;

/// SplitMix64: small, fast, seedable, and good enough to pick symbols.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// The Zipf distribution over ranks `0..n`: rank `r` has weight `1 / (r + 1)^s`. `s = 0` is
/// uniform. Rank 0 is symbol 0, the most popular.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n > 0` ranks with exponent `s >= 0`.
    pub fn new(n: u32, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|rank| {
                total += 1.0 / f64::from(rank + 1).powf(s);
                total
            })
            .collect();
        for value in &mut cdf {
            *value /= total;
        }
        Self { cdf }
    }

    /// Draws a rank.
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.next_f64();
        let rank = self.cdf.partition_point(|&c| c <= u);
        rank.min(self.cdf.len() - 1) as u32
    }

    /// The probability of `rank`.
    pub fn probability(&self, rank: u32) -> f64 {
        let rank = rank as usize;
        self.cdf[rank] - if rank == 0 { 0.0 } else { self.cdf[rank - 1] }
    }
}

/// How a client picks its symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Every symbol (`symbols=*`; nchan: the `ticks` channel).
    Firehose,
    /// `k` symbols chosen uniformly.
    Uniform,
    /// `k` symbols chosen by popularity (Zipf).
    Zipf,
}

impl Class {
    /// All classes, in report order.
    pub const ALL: [Class; 3] = [Class::Firehose, Class::Uniform, Class::Zipf];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Firehose => "firehose",
            Class::Uniform => "uniform",
            Class::Zipf => "zipf",
        }
    }
}

/// How a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything as fast as it comes.
    Fast,
    /// Reads at a set number of bytes per second.
    Slow,
    /// Reads the response head, then nothing until the end of the run.
    Paused,
}

/// Fractions of clients per class; parsed from `firehose=0.2,uniform=0.3,zipf=0.5` (weights
/// are normalised, missing classes are 0).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Mix {
    /// Share of firehose clients.
    pub firehose: f64,
    /// Share of clients with `k` uniformly chosen symbols.
    pub uniform: f64,
    /// Share of clients with `k` Zipf-chosen symbols.
    pub zipf: f64,
}

impl Mix {
    /// Everyone on the firehose.
    pub const FIREHOSE: Mix = Mix {
        firehose: 1.0,
        uniform: 0.0,
        zipf: 0.0,
    };
    /// Everyone with `k` uniform symbols.
    pub const UNIFORM: Mix = Mix {
        firehose: 0.0,
        uniform: 1.0,
        zipf: 0.0,
    };
    /// Everyone with `k` Zipf symbols.
    pub const ZIPF: Mix = Mix {
        firehose: 0.0,
        uniform: 0.0,
        zipf: 1.0,
    };

    fn share(&self, class: Class) -> f64 {
        match class {
            Class::Firehose => self.firehose,
            Class::Uniform => self.uniform,
            Class::Zipf => self.zipf,
        }
    }
}

/// A `--mix` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad mix {0:?}: expected e.g. firehose=0.2,uniform=0.3,zipf=0.5 (non-negative, not all 0)")]
pub struct BadMix(String);

impl FromStr for Mix {
    type Err = BadMix;

    fn from_str(text: &str) -> Result<Self, BadMix> {
        let bad = || BadMix(text.to_owned());
        let mut mix = Mix {
            firehose: 0.0,
            uniform: 0.0,
            zipf: 0.0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((name, weight)) => (name.trim(), weight.trim().parse().map_err(|_| bad())?),
                None => (part, 1.0),
            };
            let weight: f64 = weight;
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(bad());
            }
            match name {
                "firehose" => mix.firehose += weight,
                "uniform" | "symbols" => mix.uniform += weight,
                "zipf" => mix.zipf += weight,
                _ => return Err(bad()),
            }
        }
        let total = mix.firehose + mix.uniform + mix.zipf;
        if total <= 0.0 {
            return Err(bad());
        }
        Ok(Mix {
            firehose: mix.firehose / total,
            uniform: mix.uniform / total,
            zipf: mix.zipf / total,
        })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for class in Class::ALL {
            let share = self.share(class);
            if share > 0.0 {
                write!(
                    f,
                    "{}{}={share}",
                    if first { "" } else { "," },
                    class.name()
                )?;
                first = false;
            }
        }
        Ok(())
    }
}

/// What one client subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Every symbol.
    Firehose,
    /// These symbol indices, ascending.
    Symbols(Vec<u32>),
}

/// Everything decided about one client before it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    /// Its number, `0..connections`.
    pub index: usize,
    /// How it picked its symbols.
    pub class: Class,
    /// What it subscribes to.
    pub subscription: Subscription,
    /// How it reads.
    pub role: Role,
    /// Whether it drops and resumes in the reconnect storm (fast clients only).
    pub reconnects: bool,
}

/// The inputs of [`plan_clients`].
#[derive(Debug, Clone)]
pub struct MixSettings {
    /// Number of clients.
    pub connections: usize,
    /// Class shares.
    pub mix: Mix,
    /// Symbols per non-firehose client.
    pub k: u32,
    /// Symbols in the universe.
    pub symbols: u32,
    /// Zipf exponent for [`Class::Zipf`] clients.
    pub zipf_s: f64,
    /// Share of slow clients.
    pub slow: f64,
    /// Share of paused clients.
    pub paused: f64,
    /// Share of all clients that reconnect (taken from the fast ones).
    pub reconnect: f64,
    /// Seed of the shuffles and symbol draws.
    pub seed: u64,
}

/// Splits `total` into counts proportional to `shares` (largest remainder; they sum to `total`
/// when the shares sum to 1).
pub fn apportion(total: usize, shares: &[f64]) -> Vec<usize> {
    let exact: Vec<f64> = shares.iter().map(|s| s * total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let sum: f64 = shares.iter().sum();
    let target = (total as f64 * sum).round() as usize;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut missing = target.saturating_sub(counts.iter().sum());
    for &i in order.iter().cycle().take(missing.min(shares.len() * 2)) {
        if missing == 0 {
            break;
        }
        counts[i] += 1;
        missing -= 1;
    }
    counts
}

/// Decides every client of a scenario.
pub fn plan_clients(settings: &MixSettings) -> Vec<ClientPlan> {
    let n = settings.connections;
    let mut rng = Rng::new(settings.seed);

    let class_counts = apportion(
        n,
        &[
            settings.mix.firehose,
            settings.mix.uniform,
            settings.mix.zipf,
        ],
    );
    let mut classes: Vec<Class> = Class::ALL
        .iter()
        .zip(&class_counts)
        .flat_map(|(&class, &count)| std::iter::repeat_n(class, count))
        .collect();
    rng.shuffle(&mut classes);

    let fast = (1.0 - settings.slow - settings.paused).max(0.0);
    let role_counts = apportion(n, &[fast, settings.slow, settings.paused]);
    let reconnecting = ((settings.reconnect * n as f64).round() as usize).min(role_counts[0]);
    let mut roles: Vec<(Role, bool)> = std::iter::repeat_n((Role::Fast, true), reconnecting)
        .chain(std::iter::repeat_n(
            (Role::Fast, false),
            role_counts[0] - reconnecting,
        ))
        .chain(std::iter::repeat_n((Role::Slow, false), role_counts[1]))
        .chain(std::iter::repeat_n((Role::Paused, false), role_counts[2]))
        .collect();
    rng.shuffle(&mut roles);

    let k = settings.k.min(settings.symbols);
    let zipf = Zipf::new(settings.symbols.max(1), settings.zipf_s);
    let uniform = Zipf::new(settings.symbols.max(1), 0.0);
    classes
        .into_iter()
        .zip(roles)
        .enumerate()
        .map(|(index, (class, (role, reconnects)))| {
            let subscription = match class {
                Class::Firehose => Subscription::Firehose,
                Class::Uniform => Subscription::Symbols(pick(&uniform, k, &mut rng)),
                Class::Zipf => Subscription::Symbols(pick(&zipf, k, &mut rng)),
            };
            ClientPlan {
                index,
                class,
                subscription,
                role,
                reconnects,
            }
        })
        .collect()
}

/// `k` distinct ranks drawn from `dist`, ascending. Draws that repeat are retried a bounded
/// number of times (a steep Zipf over few symbols repeats a lot), then the rest is filled with
/// the most popular ranks not yet taken.
fn pick(dist: &Zipf, k: u32, rng: &mut Rng) -> Vec<u32> {
    let n = dist.cdf.len() as u32;
    let mut chosen: Vec<u32> = Vec::with_capacity(k as usize);
    let mut attempts = 0u32;
    let limit = k.saturating_mul(64).max(1024);
    while (chosen.len() as u32) < k && attempts < limit {
        attempts += 1;
        let rank = dist.sample(rng);
        if !chosen.contains(&rank) {
            chosen.push(rank);
        }
    }
    let mut next = 0;
    while (chosen.len() as u32) < k && next < n {
        if !chosen.contains(&next) {
            chosen.push(next);
        }
        next += 1;
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MixSettings {
        MixSettings {
            connections: 1000,
            mix: "firehose=0.2,uniform=0.3,zipf=0.5".parse().unwrap(),
            k: 20,
            symbols: 500,
            zipf_s: 1.0,
            slow: 0.1,
            paused: 0.05,
            reconnect: 0.5,
            seed: 7,
        }
    }

    #[test]
    fn mix_parsing() {
        let mix: Mix = "firehose=1,zipf=3".parse().unwrap();
        assert_eq!((mix.firehose, mix.uniform, mix.zipf), (0.25, 0.0, 0.75));
        assert_eq!("firehose".parse::<Mix>().unwrap(), Mix::FIREHOSE);
        assert_eq!(mix.to_string(), "firehose=0.25,zipf=0.75");
        assert!("firehose=0".parse::<Mix>().is_err());
        assert!("everyone=1".parse::<Mix>().is_err());
        assert!("zipf=-1".parse::<Mix>().is_err());
        assert!("zipf=x".parse::<Mix>().is_err());
    }

    #[test]
    fn apportion_is_exact() {
        assert_eq!(apportion(10, &[0.5, 0.5]), vec![5, 5]);
        assert_eq!(apportion(10, &[1.0 / 3.0; 3]).iter().sum::<usize>(), 10);
        assert_eq!(apportion(7, &[0.2, 0.3, 0.5]), vec![1, 2, 4]);
        assert_eq!(
            apportion(1100, &[1000.0 / 1100.0, 100.0 / 1100.0]),
            vec![1000, 100]
        );
        assert_eq!(apportion(0, &[1.0]), vec![0]);
    }

    #[test]
    fn counts_follow_the_mix_and_roles() {
        let plans = plan_clients(&settings());
        assert_eq!(plans.len(), 1000);
        let count = |f: &dyn Fn(&ClientPlan) -> bool| plans.iter().filter(|p| f(p)).count();
        assert_eq!(count(&|p| p.class == Class::Firehose), 200);
        assert_eq!(count(&|p| p.class == Class::Uniform), 300);
        assert_eq!(count(&|p| p.class == Class::Zipf), 500);
        assert_eq!(count(&|p| p.role == Role::Slow), 100);
        assert_eq!(count(&|p| p.role == Role::Paused), 50);
        assert_eq!(count(&|p| p.reconnects), 500);
        assert!(plans.iter().all(|p| !p.reconnects || p.role == Role::Fast));
        for plan in &plans {
            match (&plan.class, &plan.subscription) {
                (Class::Firehose, Subscription::Firehose) => {}
                (_, Subscription::Symbols(symbols)) => {
                    assert_eq!(symbols.len(), 20);
                    assert!(symbols.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
                    assert!(symbols.iter().all(|&s| s < 500));
                }
                other => panic!("mismatch {other:?}"),
            }
        }
        // Interleaved: the first tenth of the clients has about a tenth of the firehose ones.
        let early = plans[..100]
            .iter()
            .filter(|p| p.class == Class::Firehose)
            .count();
        assert!((8..=35).contains(&early), "{early}");
    }

    #[test]
    fn same_seed_same_clients() {
        assert_eq!(plan_clients(&settings()), plan_clients(&settings()));
        let other = MixSettings {
            seed: 8,
            ..settings()
        };
        assert_ne!(plan_clients(&settings()), plan_clients(&other));
    }

    #[test]
    fn zipf_prefers_popular_symbols() {
        let zipf = Zipf::new(500, 1.0);
        let harmonic: f64 = (1..=500).map(|r| 1.0 / f64::from(r)).sum();
        assert!((zipf.probability(0) - 1.0 / harmonic).abs() < 1e-12);
        assert!((zipf.probability(9) - 0.1 / harmonic).abs() < 1e-12);
        let mut rng = Rng::new(1);
        let mut hits = vec![0u32; 500];
        for _ in 0..200_000 {
            hits[zipf.sample(&mut rng) as usize] += 1;
        }
        let share0 = f64::from(hits[0]) / 200_000.0;
        assert!((share0 - zipf.probability(0)).abs() < 0.01, "{share0}");
        assert!(hits[0] > hits[1] && hits[1] > hits[9] && hits[9] > hits[99]);

        let plans = plan_clients(&MixSettings {
            mix: Mix::ZIPF,
            slow: 0.0,
            paused: 0.0,
            reconnect: 0.0,
            ..settings()
        });
        let with = |symbol: u32| {
            plans
                .iter()
                .filter(
                    |p| matches!(&p.subscription, Subscription::Symbols(s) if s.contains(&symbol)),
                )
                .count()
        };
        assert!(
            with(0) > with(50) && with(50) > with(400),
            "{} {} {}",
            with(0),
            with(50),
            with(400)
        );
        assert!(
            with(0) > 900,
            "the top symbol is in nearly every Zipf set: {}",
            with(0)
        );
    }

    #[test]
    fn uniform_is_flat_and_k_is_capped_by_the_universe() {
        let zipf = Zipf::new(4, 0.0);
        assert!((0..4).all(|r| (zipf.probability(r) - 0.25).abs() < 1e-12));
        let plans = plan_clients(&MixSettings {
            connections: 3,
            mix: Mix::UNIFORM,
            k: 10,
            symbols: 4,
            slow: 0.0,
            paused: 0.0,
            reconnect: 0.0,
            ..settings()
        });
        for plan in plans {
            assert_eq!(plan.subscription, Subscription::Symbols(vec![0, 1, 2, 3]));
        }
        // A very steep Zipf still yields k distinct symbols.
        let steep = Zipf::new(100, 8.0);
        assert_eq!(pick(&steep, 50, &mut Rng::new(3)).len(), 50);
    }
}
