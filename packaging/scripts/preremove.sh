#!/bin/sh
# Before removal. deb: $1 = remove (or upgrade, deconfigure, failed-upgrade);
# rpm: $1 = 0 on erase, 1 on upgrade. Only a real removal stops the service;
# an upgrade restarts it in postinstall.
set -e
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop tasker.service >/dev/null 2>&1 || true
		systemctl disable tasker.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
