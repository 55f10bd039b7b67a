/* commands.h: entry points of the subcommands (one file each in src/cli). */
#ifndef DE_COMMANDS_H
#define DE_COMMANDS_H

int cmd_audit_main(int argc, char **argv);
int cmd_alerts_main(int argc, char **argv);
int cmd_config_main(int argc, char **argv);
int cmd_events_main(int argc, char **argv);
int cmd_hash_main(int argc, char **argv);
int cmd_ps_main(int argc, char **argv);
int cmd_query_main(int argc, char **argv);
int cmd_rules_main(int argc, char **argv);
int cmd_sinks_main(int argc, char **argv);
int cmd_procmond_main(int argc, char **argv);
int cmd_agent_main(int argc, char **argv);
int cmd_run_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);

#endif
