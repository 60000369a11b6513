#!/bin/sh
# PID 1 of openwrt/test/run.sh's router root (busybox ash): the services an OpenWrt router runs
# before any package's init script — a syslog daemon standing in for logd (logread reads its
# file), ubusd, and procd managing services over ubus (not as init: procd as PID 1 runs the
# boot state machine, which a test does not need). procd's own log and the stdout/stderr it
# forwards from instances go to /tmp/log/procd.log.
cd /
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /tmp/run/ubus /tmp/log /tmp/lock /tmp/.uci
syslogd -n -C256 &
/sbin/ubusd &
i=0
while [ ! -S /var/run/ubus/ubus.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
/sbin/procd -S > /tmp/log/procd.log 2>&1 &
i=0
while ! ubus -t 1 list service > /dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
# Boot: the enabled services start, as /etc/rc.d/S* do on a router.
for s in /etc/rc.d/S*; do [ -x "$s" ] && "$s" boot; done
echo ready > /tmp/run/init.ready
# Reap whatever is re-parented here until the test ends the namespace.
while :; do wait; sleep 1; done
