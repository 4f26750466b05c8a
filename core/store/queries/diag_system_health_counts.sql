select * from tasker.system_health_counts()
