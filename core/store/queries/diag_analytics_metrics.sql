select * from tasker.analytics_metrics(coalesce($1::timestamptz, now() - interval '1 hour'))
