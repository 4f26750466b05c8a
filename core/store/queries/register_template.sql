select tasker.register_template($1, $2, $3, $4, $5)
