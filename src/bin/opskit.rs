fn main() -> std::process::ExitCode {
    opskit::main()
}
