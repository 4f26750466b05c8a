-- fmt template: %[1]s the table, %[2]s its columns (quoted identifiers).
copy tasker.%[1]s (%[2]s) to stdout
