#!/bin/sh
# Before the files arrive: the unprivileged user and group the service runs
# as (and that owns /var/lib/tasker). Kept on removal, like the data.
set -e
if ! getent group tasker >/dev/null 2>&1; then
	groupadd --system tasker
fi
if ! getent passwd tasker >/dev/null 2>&1; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	useradd --system --gid tasker --home-dir /var/lib/tasker --no-create-home \
		--shell "$nologin" --comment "tasker workflow appliance" tasker
fi
exit 0
