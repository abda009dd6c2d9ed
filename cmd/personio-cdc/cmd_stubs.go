package main

import "context"

func cmdRun(ctx context.Context, a *app, args []string) int        { return exitError }
func cmdSync(ctx context.Context, a *app, args []string) int       { return exitError }
func cmdResnapshot(ctx context.Context, a *app, args []string) int { return exitError }
func cmdDemo(ctx context.Context, a *app, args []string) int       { return exitError }
