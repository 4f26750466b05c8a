#!/bin/sh
# After install or upgrade. deb: $1 = configure, $2 = the version replaced
# (empty on a first install). rpm: $1 = 1 on install, 2 and more on upgrade.
set -e
# systemd makes it on start (StateDirectory=); made here too so that
# `tasker db restore` works before the first start.
if [ ! -d /var/lib/tasker ]; then
	install -d -o tasker -g tasker -m 0750 /var/lib/tasker
fi
upgrade=no
case "$1" in
configure) [ -n "$2" ] && upgrade=yes ;;
[2-9] | [1-9][0-9]*) upgrade=yes ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$upgrade" = yes ]; then
		# Only a running service is restarted, on the new binary.
		systemctl try-restart tasker.service >/dev/null 2>&1 || true
	fi
fi
if [ "$upgrade" = no ]; then
	echo "tasker: installed. Edit /etc/tasker/tasker.yaml, then: systemctl enable --now tasker"
fi
exit 0
