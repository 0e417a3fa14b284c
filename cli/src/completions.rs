//! `avala completions <SHELL>`: the shell completion script, by clap_complete.

use clap::{value_parser, Arg, ArgMatches, Command};
use clap_complete::Shell;

/// The command.
pub fn command() -> Command {
    Command::new("completions")
        .about("Print the completion script for a shell (bash, zsh, fish, elvish, powershell)")
        .after_help(
            "Example: avala completions bash > ~/.local/share/bash-completion/completions/avala",
        )
        .arg(
            Arg::new("shell")
                .required(true)
                .value_parser(value_parser!(Shell))
                .help("The shell"),
        )
}

/// Writes the script for the chosen shell to stdout.
pub fn run(m: &ArgMatches) {
    let shell = *m.get_one::<Shell>("shell").expect("required by clap");
    clap_complete::generate(
        shell,
        &mut crate::tree::visible(),
        "avala",
        &mut std::io::stdout(),
    );
}
