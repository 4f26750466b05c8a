select rolsuper from pg_roles where rolname = current_user
