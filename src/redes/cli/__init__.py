"""The `redes` command: a parser and one library call per subcommand."""
