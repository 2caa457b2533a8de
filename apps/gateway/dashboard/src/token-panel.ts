import { storedToken, storeToken } from './api';
import { element } from './dom';

/**
 * The token a gateway with FANOUT_AUTH=jwt needs: asked for once and kept in this tab, asked for
 * again only when the gateway refuses the one it has (or on "Change token").
 */
export class TokenPanel {
  private readonly panel = element('token-panel', HTMLElement);
  private readonly reason = element('token-reason', HTMLParagraphElement);
  private readonly input = element('token-input', HTMLInputElement);
  private readonly change = element('token-button', HTMLButtonElement);
  private readonly defaultReason = this.reason.textContent ?? '';
  private waiting: ((token: string) => void)[] = [];

  /** `onChanged`: a token was given, after those waiting for one have it (`someoneWaited`: there were). */
  constructor(onChanged: (someoneWaited: boolean) => void) {
    element('token-form', HTMLFormElement).addEventListener('submit', (event) => {
      event.preventDefault();
      const token = this.input.value.trim();
      if (!token) return;
      storeToken(token);
      this.input.value = '';
      this.panel.hidden = true;
      this.change.hidden = false;
      const waiting = this.waiting;
      this.waiting = [];
      for (const resolve of waiting) resolve(token);
      onChanged(waiting.length > 0);
    });
    this.change.addEventListener('click', () => this.show('Paste a new token (JWT with the stream:read scope).'));
    this.change.hidden = storedToken() === undefined;
  }

  /**
   * A token to try instead of `refused`, the one the gateway just refused (undefined: none was
   * sent): one given since that request went out (several reads refused together ask once), or else
   * the next one the person gives.
   */
  ask(refused: string | undefined, reason?: string): Promise<string> {
    const current = storedToken();
    if (current !== undefined && current !== refused) return Promise.resolve(current);
    this.show(reason);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  show(reason?: string): void {
    this.panel.hidden = false;
    this.reason.textContent = reason ?? this.defaultReason;
    this.input.focus();
  }
}
