//! The storage engine's options, built from the server configuration.
//!
//! The engine owns its option types ([`ringkv_engine::Options`],
//! [`ringkv_engine::FsyncPolicy`], [`ringkv_engine::CompactionStrategy`]) and
//! does not depend on `ringkv-conf`; `conf` keeps its own enums for parsing
//! files, environment and flags. This module is the one place that maps one
//! onto the other, at start-up and when `CONFIG SET` changes a live engine key.

use ringkv_conf::Config;
use ringkv_engine::Options;

/// The engine options a server configuration asks for. What the
/// configuration does not cover (tombstone grace, compaction filter, clock)
/// keeps the engine's default; the keyspace installs its compaction filter
/// when it opens the engine.
pub fn engine_options(config: &Config) -> Options {
    Options {
        fsync: fsync_policy(config.appendfsync),
        memtable_size_bytes: config.memtable_size.bytes_usize(),
        max_immutable_memtables: config.max_immutable_memtables,
        block_size_bytes: config.block_size.bytes_usize(),
        bloom_bits_per_key: config.bloom_bits_per_key,
        block_cache_bytes: config.block_cache_size.bytes_usize(),
        max_open_files: config.max_open_files,
        compaction_strategy: compaction_strategy(config.compaction_strategy),
        l0_compaction_trigger: config.l0_compaction_trigger,
        l0_slowdown_trigger: config.l0_slowdown_trigger,
        l0_stop_trigger: config.l0_stop_trigger,
        level_size_ratio: config.level_size_ratio,
        level1_max_bytes: config.level1_max_size.bytes(),
        target_file_size_bytes: config.target_file_size.bytes(),
        tiered_min_threshold: config.tiered_min_threshold,
        tiered_max_threshold: config.tiered_max_threshold,
        pending_compaction_bytes_limit: config.pending_compaction_bytes_limit.bytes(),
        compaction_threads: config.compaction_threads,
        compaction_rate_limit_bytes_per_sec: config.compaction_rate_limit.bytes(),
        wal_missing_ok: config.wal_missing_ok,
        ..Options::default()
    }
}

/// The engine's fsync policy for the configured `appendfsync`.
pub fn fsync_policy(policy: ringkv_conf::FsyncPolicy) -> ringkv_engine::FsyncPolicy {
    use ringkv_conf::FsyncPolicy as Conf;
    use ringkv_engine::FsyncPolicy as Engine;
    match policy {
        Conf::Always => Engine::Always,
        Conf::EverySec => Engine::EverySec,
        Conf::No => Engine::No,
    }
}

/// The engine's compaction strategy for the configured `compaction-strategy`.
pub fn compaction_strategy(
    strategy: ringkv_conf::CompactionStrategy,
) -> ringkv_engine::CompactionStrategy {
    use ringkv_conf::CompactionStrategy as Conf;
    use ringkv_engine::CompactionStrategy as Engine;
    match strategy {
        Conf::Leveled => Engine::Leveled,
        Conf::SizeTiered => Engine::SizeTiered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkv_conf::ConfValue as _;

    #[test]
    fn default_configuration_gives_the_engine_defaults() {
        // Options is not PartialEq (it holds a clock and a filter); its Debug
        // lists every other field.
        assert_eq!(
            format!("{:?}", engine_options(&Config::default())),
            format!("{:?}", Options::default())
        );
    }

    #[test]
    fn every_configured_value_reaches_the_engine() {
        let mut c = Config::default();
        for (key, value) in [
            ("appendfsync", "always"),
            ("compaction-strategy", "size-tiered"),
            ("memtable-size", "1mb"),
            ("max-immutable-memtables", "3"),
            ("block-size", "8kb"),
            ("block-cache-size", "2mb"),
            ("bloom-bits-per-key", "7"),
            ("max-open-files", "99"),
            ("l0-compaction-trigger", "2"),
            ("l0-slowdown-trigger", "5"),
            ("l0-stop-trigger", "9"),
            ("level-size-ratio", "8"),
            ("level1-max-size", "1mb"),
            ("target-file-size", "128kb"),
            ("tiered-min-threshold", "3"),
            ("tiered-max-threshold", "6"),
            ("pending-compaction-bytes-limit", "1gb"),
            ("compaction-threads", "2"),
            ("compaction-rate-limit", "5mb"),
            ("wal-missing-ok", "yes"),
        ] {
            c.set(key, value).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        let o = engine_options(&c);
        assert_eq!(o.fsync, ringkv_engine::FsyncPolicy::Always);
        assert_eq!(
            o.compaction_strategy,
            ringkv_engine::CompactionStrategy::SizeTiered
        );
        assert_eq!(o.memtable_size_bytes, 1 << 20);
        assert_eq!(o.max_immutable_memtables, 3);
        assert_eq!(o.block_size_bytes, 8 << 10);
        assert_eq!(o.block_cache_bytes, 2 << 20);
        assert_eq!(o.bloom_bits_per_key, 7);
        assert_eq!(o.max_open_files, 99);
        assert_eq!(
            (
                o.l0_compaction_trigger,
                o.l0_slowdown_trigger,
                o.l0_stop_trigger
            ),
            (2, 5, 9)
        );
        assert_eq!(o.level_size_ratio, 8);
        assert_eq!(o.level1_max_bytes, 1 << 20);
        assert_eq!(o.target_file_size_bytes, 128 << 10);
        assert_eq!((o.tiered_min_threshold, o.tiered_max_threshold), (3, 6));
        assert_eq!(o.pending_compaction_bytes_limit, 1 << 30);
        assert_eq!(o.compaction_threads, 2);
        assert_eq!(o.compaction_rate_limit_bytes_per_sec, 5 << 20);
        assert!(o.wal_missing_ok);
    }

    #[test]
    fn enum_names_agree_between_configuration_and_engine() {
        for &name in ringkv_conf::FsyncPolicy::NAMES {
            let conf = ringkv_conf::FsyncPolicy::parse_conf(name).unwrap();
            assert_eq!(fsync_policy(conf).as_str(), name);
        }
        for &name in ringkv_conf::CompactionStrategy::NAMES {
            let conf = ringkv_conf::CompactionStrategy::parse_conf(name).unwrap();
            assert_eq!(compaction_strategy(conf).to_string(), name);
        }
    }
}
