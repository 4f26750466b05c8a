-- fmt template: %[1]s the table, %[2]s its columns (quoted identifiers).
-- COPY writes identity columns as given (like OVERRIDING SYSTEM VALUE).
copy tasker.%[1]s (%[2]s) from stdin
