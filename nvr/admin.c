/* admin — placeholder. */
typedef int nvr_admin_placeholder;
