-- fmt template: %[1]s the table, %[2]s the column (quoted identifiers); $1
-- the sequence. The next value is one past the highest restored.
select setval(($1::text)::regclass, coalesce((select max(%[2]s) from tasker.%[1]s), 0) + 1, false)
