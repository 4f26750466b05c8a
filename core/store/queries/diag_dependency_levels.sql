select * from tasker.dependency_levels($1)
