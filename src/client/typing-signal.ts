/**
 * Debounces the local user's typing state into `typing` frames: `true` at most once per `repeatMs`
 * while keys are pressed (so the other side can expire a stale indicator), `false` after `idleMs`
 * without a key or at once when the message is sent.
 */
export class TypingSignal {
  private active = false;
  private lastSentAt = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: (isTyping: boolean) => void,
    private readonly repeatMs = 2_000,
    private readonly idleMs = 3_000,
  ) {}

  keystroke(now = Date.now()): void {
    if (!this.active || now - this.lastSentAt >= this.repeatMs) {
      this.active = true;
      this.lastSentAt = now;
      this.send(true);
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idleMs);
  }

  stop(): void {
    const wasActive = this.active;
    this.reset();
    if (wasActive) this.send(false);
  }

  /** Forget the state without sending anything (the connection is gone; the server forgot too). */
  reset(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.active = false;
  }
}
