/* cli — placeholder. */
typedef int nvr_cli_placeholder;
