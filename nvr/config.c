/* config — placeholder. */
typedef int nvr_config_placeholder;
