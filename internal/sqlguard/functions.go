package sqlguard

import "strings"

// The function allow-lists. Names are pg_catalog function names as
// PostgreSQL stores them (lower case); a call is allowed only when its
// normalised name is listed for the mode. Everything else is refused, which
// is what keeps new or unknown functions out: deny by default.
//
// A function belongs on userFuncs only if it reads nothing but its arguments
// (and the clock or a random source) and changes nothing: no catalog lookups,
// no settings, no files, no locks, no SQL text. adminFuncs adds functions that
// read the catalogs or server state but change nothing.

// userFuncs are the functions allowed in every validated mode.
var userFuncs = wordSet(
	// Math.
	`abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10
	min_scale mod pi power pow radians round scale sign sqrt trim_scale trunc
	width_bucket random random_normal erf erfc gamma lgamma
	acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd sin sind
	tan tand sinh cosh tanh asinh acosh atanh`,
	// Function-style casts to built-in types (int4(x), text(x), …).
	`bool bpchar char varchar text name int2 int4 int8 float4 float8 numeric
	date time timetz timestamp timestamptz interval inet cidr macaddr macaddr8
	bit varbit uuid json jsonb xml money`,
	// Strings and bytes.
	`ascii bit_length btrim char_length character_length chr concat concat_ws
	convert convert_from convert_to decode encode format initcap left length
	lower lpad ltrim md5 normalize is_normalized octet_length overlay
	parse_ident position quote_ident quote_literal quote_nullable regexp_count
	regexp_instr regexp_like regexp_match regexp_matches regexp_replace
	regexp_split_to_array regexp_split_to_table regexp_substr repeat replace
	reverse right rpad rtrim split_part starts_with string_to_array
	string_to_table strpos substr substring to_ascii to_hex to_bin to_oct
	translate unistr upper casefold sha224 sha256 sha384 sha512 crc32 crc32c
	get_bit get_byte set_bit set_byte bit_count similar_escape
	similar_to_escape like_escape to_char to_number`,
	// Date and time.
	`age clock_timestamp date_add date_bin date_part date_subtract date_trunc
	extract isfinite justify_days justify_hours justify_interval make_date
	make_interval make_time make_timestamp make_timestamptz now
	statement_timestamp timeofday transaction_timestamp to_timestamp to_date
	timezone overlaps`,
	// JSON and jsonb.
	`array_to_json json_agg json_agg_strict json_array_elements
	json_array_elements_text json_array_length json_build_array
	json_build_object json_each json_each_text json_extract_path
	json_extract_path_text json_object json_object_agg json_object_agg_strict
	json_object_agg_unique json_object_agg_unique_strict json_object_keys
	json_populate_record json_populate_recordset json_strip_nulls
	json_to_record json_to_recordset json_typeof jsonb_agg jsonb_agg_strict
	jsonb_array_elements jsonb_array_elements_text jsonb_array_length
	jsonb_build_array jsonb_build_object jsonb_concat jsonb_contained
	jsonb_contains jsonb_delete jsonb_delete_path jsonb_each jsonb_each_text
	jsonb_exists jsonb_exists_all jsonb_exists_any jsonb_extract_path
	jsonb_extract_path_text jsonb_insert jsonb_object jsonb_object_agg
	jsonb_object_agg_strict jsonb_object_agg_unique
	jsonb_object_agg_unique_strict jsonb_object_keys jsonb_path_exists
	jsonb_path_exists_tz jsonb_path_match jsonb_path_match_tz jsonb_path_query
	jsonb_path_query_array jsonb_path_query_array_tz jsonb_path_query_first
	jsonb_path_query_first_tz jsonb_path_query_tz jsonb_populate_record
	jsonb_populate_record_valid jsonb_populate_recordset jsonb_pretty jsonb_set
	jsonb_set_lax jsonb_strip_nulls jsonb_to_record jsonb_to_recordset
	jsonb_typeof row_to_json to_json to_jsonb`,
	// Arrays.
	`array_append array_cat array_dims array_fill array_length array_lower
	array_ndims array_position array_positions array_prepend array_remove
	array_replace array_sample array_shuffle array_to_string array_upper
	array_reverse array_sort cardinality trim_array unnest
	generate_subscripts generate_series`,
	// Aggregates (plain, statistical, ordered-set and hypothetical-set).
	`any_value array_agg avg bit_and bit_or bit_xor bool_and bool_or count
	every max min range_agg range_intersect_agg string_agg sum xmlagg corr
	covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept regr_r2
	regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp
	variance var_pop var_samp mode percentile_cont percentile_disc`,
	// Window functions.
	`row_number rank dense_rank percent_rank cume_dist ntile lag lead
	first_value last_value nth_value`,
	// UUIDs.
	`gen_random_uuid uuid_extract_timestamp uuid_extract_version uuidv4 uuidv7`,
	// Text search (not ts_stat; ts_rewrite only in its three-tsquery form,
	// checked in checkFunc).
	`to_tsvector to_tsquery plainto_tsquery phraseto_tsquery
	websearch_to_tsquery ts_rank ts_rank_cd ts_headline setweight strip
	tsvector_to_array array_to_tsvector ts_delete ts_filter numnode querytree
	tsquery_phrase ts_rewrite get_current_ts_config json_to_tsvector
	jsonb_to_tsvector`,
	// Geometry and networks.
	`area center diameter height isclosed isopen npoints pclose popen radius
	slope width box circle line lseg path point polygon bound_box abbrev
	broadcast family host hostmask inet_merge inet_same_family masklen netmask
	network set_masklen macaddr8_set7bit`,
	// Ranges and enums.
	`lower_inc upper_inc lower_inf upper_inf isempty range_merge multirange
	int4range int8range numrange tsrange tstzrange daterange int4multirange
	int8multirange nummultirange tsmultirange tstzmultirange datemultirange
	enum_first enum_last enum_range`,
	// Type and value information that needs no catalog lookup by name or OID.
	`pg_typeof num_nulls num_nonnulls pg_column_size pg_size_pretty
	pg_size_bytes current_database pg_collation_for`,
	// XML (the xmlelement/xmlforest/… forms are expressions, not calls).
	`xmlcomment xmlconcat2 xmltext xml_is_well_formed
	xml_is_well_formed_content xml_is_well_formed_document xpath xpath_exists
	xmlexists`,
)

// adminFuncs are allowed in admin_ro on top of userFuncs: they read the
// catalogs, statistics and server state, and change nothing.
var adminFuncs = wordSet(
	// Object sizes and storage.
	`pg_relation_size pg_total_relation_size pg_table_size pg_indexes_size
	pg_database_size pg_tablespace_size pg_column_compression
	pg_relation_filenode pg_relation_filepath pg_filenode_relation
	pg_tablespace_databases pg_tablespace_location`,
	// Definitions and descriptions.
	`pg_get_indexdef pg_get_viewdef pg_get_constraintdef pg_get_functiondef
	pg_get_function_arguments pg_get_function_identity_arguments
	pg_get_function_result pg_get_function_arg_default pg_get_function_sqlbody
	pg_get_triggerdef pg_get_ruledef pg_get_expr pg_get_keywords
	pg_get_serial_sequence pg_get_statisticsobjdef
	pg_get_statisticsobjdef_columns pg_get_statisticsobjdef_expressions
	pg_get_partkeydef pg_get_partition_constraintdef pg_get_userbyid
	pg_get_publication_tables pg_get_object_address pg_get_catalog_foreign_keys
	pg_get_replica_identity_index pg_get_replication_slots
	pg_get_backend_memory_contexts pg_get_shmem_allocations
	pg_get_multixact_members pg_get_wal_replay_pause_state
	pg_get_wal_resource_managers pg_get_acl pg_get_loaded_modules
	pg_identify_object pg_identify_object_as_address pg_describe_object
	obj_description col_description shobj_description pg_options_to_table
	pg_mcv_list_items pg_partition_tree pg_partition_ancestors
	pg_partition_root pg_sequence_parameters pg_sequence_last_value
	pg_index_column_has_property pg_index_has_property pg_indexam_has_property
	pg_indexam_progress_phasename pg_relation_is_updatable
	pg_column_is_updatable pg_relation_is_publishable pg_event_trigger_ddl_commands
	pg_event_trigger_dropped_objects pg_event_trigger_table_rewrite_oid
	pg_event_trigger_table_rewrite_reason`,
	// Privileges, visibility and name lookups.
	`pg_has_role row_security_active pg_table_is_visible pg_type_is_visible
	pg_function_is_visible pg_operator_is_visible pg_opclass_is_visible
	pg_opfamily_is_visible pg_collation_is_visible pg_conversion_is_visible
	pg_statistics_obj_is_visible pg_ts_config_is_visible pg_ts_dict_is_visible
	pg_ts_parser_is_visible pg_ts_template_is_visible pg_is_other_temp_schema
	pg_my_temp_schema to_regclass to_regcollation to_regnamespace to_regoper
	to_regoperator to_regproc to_regprocedure to_regrole to_regtype
	to_regtypemod regclass acldefault aclexplode aclcontains makeaclitem
	format_type pg_input_is_valid pg_input_error_info`,
	// Settings, session and server information (reading only).
	`current_setting current_schemas current_user session_user current_schema
	current_query system_user getpgusername version pg_backend_pid
	pg_postmaster_start_time pg_conf_load_time pg_is_in_recovery
	pg_is_wal_replay_paused pg_jit_available pg_trigger_depth
	pg_listening_channels pg_notification_queue_usage pg_blocking_pids
	pg_safe_snapshot_blocking_pids inet_client_addr inet_client_port
	inet_server_addr inet_server_port pg_client_encoding getdatabaseencoding
	pg_char_to_encoding pg_encoding_to_char pg_encoding_max_length
	pg_show_all_settings pg_settings_get_flags pg_show_all_file_settings
	pg_hba_file_rules pg_ident_file_mappings pg_config pg_control_checkpoint
	pg_control_system pg_control_init pg_control_recovery
	pg_available_extensions pg_available_extension_versions
	pg_extension_update_paths pg_timezone_abbrevs pg_timezone_names
	pg_lock_status pg_prepared_xact pg_prepared_statement pg_cursor
	pg_collation_actual_version pg_database_collation_actual_version
	pg_stat_have_stats pg_numa_available`,
	// WAL positions, snapshots and transaction status (no XID is assigned).
	`pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn
	pg_last_wal_receive_lsn pg_last_wal_replay_lsn
	pg_last_xact_replay_timestamp pg_wal_lsn_diff pg_walfile_name
	pg_walfile_name_offset pg_split_walfile_name pg_current_snapshot
	pg_snapshot_xip pg_snapshot_xmax pg_snapshot_xmin pg_visible_in_snapshot
	txid_current_snapshot txid_snapshot_xip txid_snapshot_xmax
	txid_snapshot_xmin txid_visible_in_snapshot txid_current_if_assigned
	pg_current_xact_id_if_assigned pg_xact_status txid_status
	pg_xact_commit_timestamp pg_xact_commit_timestamp_origin
	pg_last_committed_xact age mxid_age`,
	// Text search introspection.
	`ts_debug ts_parse ts_token_type ts_lexize`,
)

// adminPrefixes are families of admin_ro functions named by prefix, whose
// members all read statistics and change nothing.
var adminPrefixes = []string{"pg_stat_get_"}

// isAdminFunc reports whether name is on the admin_ro list (on top of
// userFuncs).
func isAdminFunc(name string) bool {
	if adminFuncs[name] {
		return true
	}
	for _, p := range adminPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	// has_table_privilege, has_schema_privilege, … (all read-only checks).
	return strings.HasPrefix(name, "has_") && strings.HasSuffix(name, "_privilege")
}

// denied explains, for the functions people most often try, why they are
// never allowed in the validated modes. Names not found here and not on an
// allow-list get the generic explanation.
var denied = func() map[string]string {
	m := map[string]string{}
	add := func(why, names string) {
		for _, n := range strings.Fields(names) {
			m[n] = why
		}
	}
	add("it runs SQL text", `query_to_xml query_to_xml_and_xmlschema
		query_to_xmlschema cursor_to_xml cursor_to_xmlschema table_to_xml
		table_to_xml_and_xmlschema table_to_xmlschema schema_to_xml
		schema_to_xml_and_xmlschema schema_to_xmlschema database_to_xml
		database_to_xml_and_xmlschema database_to_xmlschema ts_stat`)
	add("it changes settings", `set_config`)
	add("it changes session state", `setseed pg_stat_clear_snapshot
		pg_stat_force_next_flush`)
	add("it signals or controls the server", `pg_terminate_backend
		pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_rotate_logfile_old
		pg_promote pg_log_backend_memory_contexts pg_wal_replay_pause
		pg_wal_replay_resume pg_backup_start pg_backup_stop pg_start_backup
		pg_stop_backup`)
	add("it reads server files", `pg_read_file pg_read_file_old
		pg_read_binary_file pg_stat_file pg_current_logfile`)
	add("it accesses large objects", `loread lowrite`)
	add("it changes or reads sequence state", `nextval setval currval lastval`)
	add("it assigns a transaction ID or writes WAL", `txid_current
		pg_current_xact_id pg_logical_emit_message pg_switch_wal
		pg_create_restore_point pg_export_snapshot pg_log_standby_snapshot`)
	add("it sends notifications", `pg_notify`)
	add("it sleeps", `pg_sleep pg_sleep_for pg_sleep_until`)
	add("it resets statistics", `pg_stat_statements_reset`)
	add("it changes the catalogs", `pg_import_system_collations
		brin_summarize_new_values brin_summarize_range brin_desummarize_range
		gin_clean_pending_list pg_extension_config_dump pg_nextoid
		pg_stop_making_pinned_objects`)
	add("it changes replication state", `pg_replication_slot_advance
		pg_sync_replication_slots`)
	return m
}()

// deniedPrefixes explain whole families by prefix.
var deniedPrefixes = []struct{ prefix, why string }{
	{"dblink", "it connects to other databases and runs SQL text"},
	{"lo_", "it accesses large objects"},
	{"pg_ls_", "it lists server directories"},
	{"pg_advisory_", "it takes or releases advisory locks"},
	{"pg_try_advisory_", "it takes advisory locks"},
	{"pg_stat_reset", "it resets statistics"},
	{"pg_create_", "it creates replication state"},
	{"pg_drop_replication_slot", "it drops replication state"},
	{"pg_copy_", "it copies replication slots"},
	{"pg_logical_slot_", "it consumes replication changes"},
	{"pg_replication_origin_", "it changes replication state"},
	{"hypopg", "it creates hypothetical indexes; use explain_query's hypothetical_indexes instead"},
	{"binary_upgrade_", "it is for pg_upgrade only"},
	{"pg_file_", "it writes server files"},
}

// whyDenied explains why name is not allowed.
func whyDenied(name string, admin bool) string {
	if why, ok := denied[name]; ok {
		return why
	}
	for _, d := range deniedPrefixes {
		if strings.HasPrefix(name, d.prefix) {
			return d.why
		}
	}
	if !admin && isAdminFunc(name) {
		return "it reads the system catalogs or server state, which user modes may not"
	}
	return "it is not on the list of built-in read-only functions"
}

// sessionFuncs leave state on the connection when called; admin_rw reports
// them as [Verdict.SessionState]. set_config is handled apart (only its
// session form counts).
var sessionFuncs = wordSet(`setseed pg_advisory_lock pg_advisory_lock_shared
	pg_try_advisory_lock pg_try_advisory_lock_shared pg_advisory_unlock
	pg_advisory_unlock_shared pg_advisory_unlock_all dblink_connect
	dblink_connect_u dblink_open lo_open pg_replication_origin_session_setup
	pg_replication_origin_session_reset pg_stat_clear_snapshot`)

// tableSampleMethods are the built-in TABLESAMPLE methods.
var tableSampleMethods = wordSet(`system bernoulli`)

// catalogLookupTypes are the types whose input functions look names up in
// the system catalogs, so that a cast to one probes them: every reg* type
// (regclass, regproc, regtype, regrole, regnamespace, regconfig,
// regdictionary, …; TestCatalogLookupTypes checks the list against the
// server) and aclitem, whose input resolves role names; and their arrays.
var catalogLookupTypes = func() map[string]bool {
	m := wordSet(`regclass regproc regprocedure regoper regoperator regtype
		regnamespace regrole regcollation regconfig regdictionary aclitem`)
	for n := range m {
		m["_"+n] = true
	}
	return m
}()

// credentialRelations are the relations that show credentials, by schema:
// password verifiers (pg_authid and the views on it), user mapping options
// (remote passwords) and subscription connection strings. admin_ro refuses
// them, schema-qualified or not (an unqualified name resolves through the
// search path, which may list information_schema).
// TestCredentialRelations scans every relation of pg_catalog and
// information_schema on the server for planted secrets and checks the list.
var credentialRelations = map[string]map[string]bool{
	"pg_catalog":         wordSet(`pg_authid pg_shadow pg_user_mapping pg_user_mappings pg_subscription`),
	"information_schema": wordSet(`_pg_user_mappings user_mapping_options`),
}

// privilegedCredentialRelations show credentials to a login that bypasses
// privilege checks only: pg_statistic (and pg_stats on it) hold sample
// values of every analyzed column, the credential catalogs' included, and
// pg_stats hides them only from roles without SELECT on the column.
var privilegedCredentialRelations = map[string]map[string]bool{
	"pg_catalog": wordSet(`pg_statistic pg_stats`),
}

// credentialRelation says why schema.rel (schema "" when unqualified) may
// not be read in admin_ro, or "" when it may.
func credentialRelation(schema, rel string, privileged bool) string {
	for s, names := range credentialRelations {
		if names[rel] && (schema == "" || schema == s) {
			return "shows credentials (" + s + "." + quoteIdent(rel) + ")"
		}
	}
	if !privileged {
		return ""
	}
	for s, names := range privilegedCredentialRelations {
		if names[rel] && (schema == "" || schema == s) {
			return "holds sample values of every analyzed column (" + s + "." + quoteIdent(rel) +
				"), password verifiers included, which this endpoint's privileged login role can read"
		}
	}
	return ""
}

// extensionRelations are views and tables that extensions install into the
// public schema by default but that expose server-wide information.
var extensionRelations = []string{"pg_stat_statements", "hypopg", "pg_buffercache", "pg_stat_kcache", "pg_stat_monitor"}

func wordSet(lists ...string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, w := range strings.Fields(l) {
			m[w] = true
		}
	}
	return m
}
