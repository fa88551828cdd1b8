/* daemon — placeholder. */
typedef int nvr_daemon_placeholder;
