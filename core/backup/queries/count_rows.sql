-- fmt template: %[1]s the table (quoted identifier).
select count(*) from tasker.%[1]s
