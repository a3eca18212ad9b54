/* cli.h: the difu command-line program's subcommands. Each returns the process exit status:
 * 0 on success, 1 for a failure the user can act on, 2 for bad usage. */
#ifndef DIFU_CLI_H
#define DIFU_CLI_H

int difu_cmd_info(int argc, char **argv);
int difu_cmd_model(int argc, char **argv);
int difu_cmd_init(int argc, char **argv);
int difu_cmd_predict(int argc, char **argv);
int difu_cmd_digest(int argc, char **argv);
int difu_cmd_train(int argc, char **argv);
int difu_cmd_sample(int argc, char **argv);
int difu_cmd_plot(int argc, char **argv);
int difu_cmd_bench(int argc, char **argv);

#endif /* DIFU_CLI_H */
