#!/bin/sh
# After removal. The data in /var/lib/tasker, the tasker user and a changed
# /etc/tasker/tasker.yaml stay, also on purge: deleting a workflow history is
# the operator's decision (docs/OPERATIONS.md says how).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
