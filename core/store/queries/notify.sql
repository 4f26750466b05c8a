-- The notifications of several commits, sent after them (notify.go).
select pg_notify(c, p) from unnest($1::text[], $2::text[]) as x(c, p)
