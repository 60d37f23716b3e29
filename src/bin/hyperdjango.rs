//! The `hyperdjango` command: the migration commands that need no models (`migrate`,
//! `sqlmigrate`, `showmigrations`, `inspectdb`, `dbshell`), run from the migrations directory
//! (`--dir`, default `migrations`) on `--database-url` or `HYPER_DATABASE_URL`.
//! `makemigrations` and `check` need the project's models: call
//! `hyperdjango::orm::migrate::cli::run(&models, args)` from the project's own binary.

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(hyperdjango::orm::migrate::cli::run_without_models(
        std::env::args().skip(1),
    ));
    std::process::exit(code);
}
