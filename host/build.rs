//! Passes the test plugins' directory, which ramsync-engine's build script builds, to the
//! tests of this package (`env!("RAMSYNC_TEST_PLUGIN_DIR")`).

fn main() {
    let dir = std::env::var("DEP_RAMSYNC_PLUGINS_TEST_PLUGIN_DIR")
        .expect("ramsync-engine's build script names the test plugins' directory");
    println!("cargo:rustc-env=RAMSYNC_TEST_PLUGIN_DIR={dir}");
}
