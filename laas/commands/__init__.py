"""The CLI's commands, each thin over one service call; laas.cli wires them and handles
errors."""
