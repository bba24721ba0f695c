// Command transcoder converts finished ars captures (UID_HHMMSS.tmp) into
// MP4 files, the job the ARS guide's agora_hourly.job does.
//
//	transcoder [--root DIR] [--workers N] [--max-age 72h] [--log FILE]
//	           [--once | --schedule SPEC] [--verbose] [--version] [PATH...]
//
// Without PATH it sweeps DIR (default $AGORA_FILE_ROOT) laid out as
// yyyy_mm_dd/ChannelName_HHMMSS/ and converts every capture that has no
// MP4 yet, is not being recorded and was modified within --max-age. PATH
// arguments (files or directories) are converted whatever their age.
// --once (the default) makes one pass; --schedule takes a cron spec such
// as "@hourly" and keeps running.
//
// Every failure is logged on a line containing the word "error", so
// `grep error /var/log/agora_hourly.log` lists them; no other line
// contains it. The first SIGTERM or SIGINT lets the files in progress
// finish, a second aborts them.
//
// Exit status: 0 when nothing failed, 1 when a file failed or work was
// aborted, 2 on bad usage.
package main
