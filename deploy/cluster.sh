#!/usr/bin/env bash
# `make cluster` and `make cluster-stop`: three release `frontrow` instances on one PostgreSQL
# database, on 127.0.0.1:8081-8083, behind HAProxy (deploy/haproxy.cfg) on 127.0.0.1:8080.
# Pid files and logs of all four processes are in target/cluster/.
#
#   deploy/cluster.sh start   stops a cluster this script started, if any, then starts one and
#                             waits until each instance and the balancer answer GET /ready 200
#   deploy/cluster.sh stop    stops what `start` started; fine when nothing runs
#
# `start` needs the database, the binary and HAProxy (the Makefile sees to all three):
# FRONTROW_BIN names the binary, CLUSTER_DATABASE_URL the database. The instances take their
# other settings (QUEUE_MAX_ACTIVE, RUST_LOG…) from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=target/cluster
BALANCER=127.0.0.1:8080
INSTANCES=(127.0.0.1:8081 127.0.0.1:8082 127.0.0.1:8083)
READY_WITHIN=60
NAMES=(haproxy instance1 instance2 instance3)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# The program each pid file names: HAProxy or an instance.
program() {
	[[ $1 == haproxy ]] && echo haproxy || echo frontrow
}

# Whether process $1 runs (a zombie does not) and is the program $2 (a recycled pid is not).
alive() {
	[[ $(ps -o stat=,comm= -p "$1" 2>/dev/null) =~ ^[^Z]+[[:space:]]+$2$ ]]
}

# The pid in $RUN_DIR/$1.pid, if that process is alive.
pid_of() {
	local pid
	pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$(program "$1")" && echo "$pid"
}

# Whether something accepts connections on host:port $1.
listening() {
	(exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null
}

# Starts "$@" detached from this shell, output to $RUN_DIR/$name.log, pid in $RUN_DIR/$name.pid.
launch() {
	local name=$1
	shift
	setsid "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/$name.pid"
}

# Whether every instance, and the balancer, answer GET /ready with 200.
all_ready() {
	local addr
	for addr in "${INSTANCES[@]}" "$BALANCER"; do
		curl -fsS -o /dev/null --max-time 2 "http://$addr/ready" 2>/dev/null || return 1
	done
}

show_logs() {
	local log
	for log in "$RUN_DIR"/*.log; do
		echo "--- last lines of $log:"
		tail -n 15 "$log"
	done
}

stop() {
	local name pid stopped=()
	# The balancer first, so no request reaches an instance that is stopping.
	for name in "${NAMES[@]}"; do
		if pid=$(pid_of "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			stopped+=("$name")
		fi
	done
	# An instance finishes the requests in flight (up to 30 s), then exits; past 35 s, it is killed.
	local deadline=$((SECONDS + 35))
	for name in "${stopped[@]}"; do
		while pid=$(pid_of "$name"); do
			if ((SECONDS >= deadline)); then
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.2
		done
	done
	rm -f "$RUN_DIR"/*.pid
	if [[ ${#stopped[@]} -gt 0 ]]; then
		echo "cluster stopped: ${stopped[*]}"
	fi
}

start() {
	: "${FRONTROW_BIN:?FRONTROW_BIN must name the frontrow binary}"
	: "${CLUSTER_DATABASE_URL:?CLUSTER_DATABASE_URL must name the database}"
	mkdir -p "$RUN_DIR"
	stop
	local addr n
	for addr in "$BALANCER" "${INSTANCES[@]}"; do
		if listening "$addr"; then
			echo "cannot start the cluster: $addr is in use by a process this script did not start (see: ss -ltnp)" >&2
			exit 1
		fi
	done
	for n in 1 2 3; do
		# The first instance loads the demo catalogue into an empty database (once ever).
		launch "instance$n" env DATABASE_URL="$CLUSTER_DATABASE_URL" AUTH_MODE=none \
			HTTP_ADDR="${INSTANCES[n - 1]}" SEED_DEMO="$([[ $n -eq 1 ]] && echo 1 || echo 0)" "$FRONTROW_BIN"
	done
	# In the foreground of its own process (-db) rather than daemonised, so its log is kept.
	launch haproxy env FRONTROW_BALANCER_ADDR="$BALANCER" FRONTROW_INSTANCE_1="${INSTANCES[0]}" \
		FRONTROW_INSTANCE_2="${INSTANCES[1]}" FRONTROW_INSTANCE_3="${INSTANCES[2]}" \
		"$HAPROXY" -db -f deploy/haproxy.cfg
	local started=$SECONDS name failure=""
	until all_ready; do
		for name in "${NAMES[@]}"; do
			pid_of "$name" >/dev/null || failure="${failure:+$failure, }$name exited"
		done
		if [[ -z $failure ]] && ((SECONDS - started >= READY_WITHIN)); then
			failure="no 200 within ${READY_WITHIN} s"
		fi
		if [[ -n $failure ]]; then
			echo "the cluster did not become ready (GET /ready on each instance and on $BALANCER): $failure" >&2
			show_logs >&2
			stop
			exit 1
		fi
		sleep 0.5
	done
	echo "cluster ready in $((SECONDS - started)) s: http://$BALANCER -> ${INSTANCES[*]}; logs in $RUN_DIR/"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
