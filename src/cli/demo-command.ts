export async function demoCommand(o: {seconds: number; port: number; logger: unknown}): Promise<number> { console.error("demo: not yet"); return 1; }
