//! The wrapper the agent installs at each wrapped path (see `vigil_agent::wrapper`).

fn main() {
    std::process::exit(vigil_agent::wrapper::main());
}
