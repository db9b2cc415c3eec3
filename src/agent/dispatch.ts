// One peer's message, told apart and answered: who may talk to the agent
// (root only), probes, what is cut short or unreadable, and where each kind
// of request goes. Every path closes the fds it was given exactly once.
import { AgentProtocolError, clip, parseAgentMessage } from './protocol';
import { oneLine, type AgentContext } from './context';
import type { Peer } from './listener';
import { superviseRuntime } from './runtime';
import { answerControl } from './control';

export async function dispatch(ctx: AgentContext, m: Peer): Promise<void> {
  ctx.counters.accepted++;
  const peer = { peerPid: m.pid, peerUid: m.uid };
  const refuse = (why: string, extra: Record<string, unknown> = {}) => {
    ctx.counters.rejected++;
    ctx.log.warn({ ...peer, ...extra, fds: m.fds.length }, `rejected connection: ${why}`);
    m.fds.forEach((fd) => ctx.closeFd(fd));
    m.hangUp();
  };
  if (m.uid !== 0) return refuse(`peer uid ${m.uid} is not root`);
  if (m.data.length === 0 && m.fds.length === 0) {
    ctx.counters.probes++;
    ctx.log.debug(peer, 'probe connection');
    return m.hangUp();
  }
  if (!m.complete) {
    const why = m.data.length >= ctx.maxBytes ? `message larger than ${ctx.maxBytes} bytes` : `incomplete message (${m.data.length} bytes): the peer hung up or sent nothing more for ${ctx.peerTimeoutMs} ms`;
    return refuse(why, { data: clip(m.data.toString('utf8')) });
  }
  let msg;
  try {
    msg = parseAgentMessage(m.data, m.fds.length);
  } catch (e) {
    return refuse(e instanceof AgentProtocolError ? e.message : `unreadable message: ${oneLine(e)}`, { data: clip(m.data.toString('utf8')) });
  }
  switch (msg.kind) {
    case 'runtime':
      // runc and crun send and hang up; nothing goes back.
      m.hangUp();
      return superviseRuntime(ctx, msg, m.fds, peer);
    case 'status':
      ctx.counters.control++;
      return m.reply({ ok: true, status: ctx.status() });
    case 'control': {
      ctx.counters.control++;
      ctx.log.debug({ ...peer, request: msg.request }, 'control request');
      let answer: Record<string, unknown>;
      try {
        answer = await answerControl(ctx, msg.request);
      } catch (err) {
        ctx.log.error({ err, request: msg.request }, 'control request failed');
        answer = { ok: false, error: `internal error: ${oneLine(err)}` };
      }
      return m.reply(answer);
    }
  }
}
