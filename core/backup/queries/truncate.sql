-- fmt template: %[1]s the tables (tasker.<quoted>, comma separated). Rows a
-- migration seeded give way to the archive's.
truncate %[1]s
