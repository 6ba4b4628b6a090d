"""Building libraries: training runs and their policy folders, staging and resuming, the
indexes, the local and Ray executors, sharded builds and the default library."""
