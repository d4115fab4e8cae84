/* The aigov command: one entry point per sub-command, each in its own file. */
#ifndef AIGOV_TOOL_H
#define AIGOV_TOOL_H

/* Exit codes shared by every sub-command (SPEC.md). */
#define AIGOV_EXIT_OK     0
#define AIGOV_EXIT_FOUND  1   /* tampering found, policy errors, failing cases */
#define AIGOV_EXIT_USAGE  2   /* usage or I/O error */

int aigov_cmd_keygen(int argc, char **argv);   /* cmd_keygen.c */
int aigov_cmd_audit(int argc, char **argv);    /* cmd_audit.c */
int aigov_cmd_audit_match(int argc, char **argv);   /* cmd_audit_match.c: hash-keygen, match */
int aigov_cmd_audit_report(int argc, char **argv);  /* cmd_audit_report.c */
int aigov_cmd_policy(int argc, char **argv);   /* cmd_policy.c */
int aigov_cmd_token(int argc, char **argv);    /* cmd_token.c */

#endif
