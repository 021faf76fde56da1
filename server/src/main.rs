fn main() {
    if std::env::args().any(|a| a == "--print-sample-config") {
        print!("{}", ringkv_conf::sample_toml());
    }
}
