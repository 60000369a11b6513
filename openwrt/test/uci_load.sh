
# --- added by NetWatch's openwrt/test/run.sh -------------------------------------------------
# A router's /lib/config/uci.sh (openwrt/openwrt, package/system/uci/files) also defines
# uci_load, which functions.sh's config_load calls; that file is not among the upstream
# snapshots, whose uci repository ships only the helpers above. This is the same step, written
# for the test: read the package with the uci CLI (`export`, state from /var/state merged) and
# evaluate it through the package/config/option/list functions above.
uci_load() {
	local data ret
	export ${NO_EXPORT:+-n} CONFIG_SECTIONS=
	export ${NO_EXPORT:+-n} CONFIG_NUM_SECTIONS=0
	export ${NO_EXPORT:+-n} CONFIG_SECTION=
	data="$(/sbin/uci -P /var/state -S -n export "$1" 2>/dev/null)"
	ret=$?
	[ "$ret" != 0 ] || [ -z "$data" ] || eval "$data"
	config_cb
	return "$ret"
}
