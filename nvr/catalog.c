/* catalog — placeholder. */
typedef int nvr_catalog_placeholder;
