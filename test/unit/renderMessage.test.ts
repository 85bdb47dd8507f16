import { commandOf } from '../../shared/bot/activityHandler';
import type { ConversationKind } from '../../shared/domain/reference';
import { renderMessage, type RenderContext } from '../../shared/messages/renderMessage';

interface CardElement {
  type: string;
  text?: string;
  facts?: { title: string; value: string }[];
  title?: string;
  url?: string;
  data?: unknown;
}
interface Card {
  type: string;
  version: string;
  body: CardElement[];
  actions: CardElement[];
}

const personal = (appName = 'App'): RenderContext => ({ appName, landsIn: 'personal' });
const card = (body: unknown[]) => ({ type: 'AdaptiveCard' as const, version: '1.5', body });

describe('renderMessage: the notification template', () => {
  it('renders an Adaptive Card with every part the Teams guidance asks for', () => {
    const out = renderMessage(
      {
        template: 'notification',
        data: {
          title: 'Deployment of api finished',
          whatHappened: 'Release 1.4.2 was deployed to production.',
          result: 'Succeeded',
          triggeredBy: 'Alex Wilber',
          actions: [
            { title: 'Open release', url: 'https://ci.example/releases/142' },
            { title: 'View logs', url: 'https://ci.example/logs/142' },
          ],
        },
      },
      personal('Release Bot'),
    );
    expect(out.text).toBeUndefined();
    expect(out.summary).toBe('Deployment of api finished');
    const rendered = out.card as unknown as Card;
    expect(rendered.type).toBe('AdaptiveCard');
    expect(rendered.version).toBe('1.5');
    const texts = rendered.body.filter((e) => e.type === 'TextBlock').map((e) => e.text);
    expect(texts[0]).toBe('Deployment of api finished');
    expect(texts[1]).toBe('Release 1.4.2 was deployed to production.');
    expect(texts.some((t) => t?.includes('Release Bot') === true && /stop/i.test(t))).toBe(true);

    const factSets = rendered.body.filter((e) => e.type === 'FactSet');
    expect(factSets).toHaveLength(1);
    expect(factSets[0]?.facts).toEqual([
      { title: 'Result', value: 'Succeeded' },
      { title: 'Triggered by', value: 'Alex Wilber' },
    ]);

    expect(rendered.actions.filter((a) => a.type === 'Action.OpenUrl').map((a) => ({ title: a.title, url: a.url }))).toEqual([
      { title: 'Open release', url: 'https://ci.example/releases/142' },
      { title: 'View logs', url: 'https://ci.example/logs/142' },
    ]);
    const submit = rendered.actions.filter((a) => a.type === 'Action.Submit');
    expect(submit).toHaveLength(1);
    expect(submit[0]?.data).toEqual({ teamsNotify: 'optOut' });
    // What the button submits is what the bot reads as "stop".
    expect(commandOf({ value: submit[0]?.data })).toBe('stop');
    // Nothing of the template syntax is left over.
    expect(JSON.stringify(rendered)).not.toMatch(/\$\{|\$when|\$data/);
  });

  it('leaves out the FactSet when there is no result or trigger, and keeps only the facts given', () => {
    const bare = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, personal()).card as unknown as Card;
    expect(bare.body.filter((e) => e.type === 'FactSet')).toEqual([]);
    expect(bare.actions.map((a) => a.type)).toEqual(['Action.Submit']);

    const one = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W', triggeredBy: 'cron' } }, personal()).card as unknown as Card;
    expect(one.body.find((e) => e.type === 'FactSet')?.facts).toEqual([{ title: 'Triggered by', value: 'cron' }]);
  });

  it('does not evaluate template expressions found in the caller’s data', () => {
    const rendered = renderMessage(
      { template: 'notification', data: { title: 'Hi ${footer.text}', whatHappened: "${if(true,'x','y')}", triggeredBy: '${result}' } },
      personal('Secret App'),
    ).card as unknown as Card;
    const texts = rendered.body.map((e) => e.text);
    expect(texts).toContain('Hi ${footer.text}');
    expect(texts).toContain("${if(true,'x','y')}");
    expect(rendered.body.find((e) => e.type === 'FactSet')?.facts).toEqual([{ title: 'Triggered by', value: '${result}' }]);
  });

  it('keeps the title as the summary unless one is given', () => {
    expect(renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, personal()).summary).toBe('T');
    expect(renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' }, summary: 'S' }, personal()).summary).toBe('S');
  });
});

describe('renderMessage: the card footer says how to stop it where the card lands', () => {
  const footerAndButton = (landsIn: ConversationKind) => {
    const rendered = renderMessage({ template: 'notification', data: { title: 'T', whatHappened: 'W' } }, { appName: 'Teams Notify', landsIn }).card as unknown as Card;
    const footer = rendered.body.at(-1)?.text ?? '';
    const button = rendered.actions.find((a) => a.type === 'Action.Submit');
    return { footer, button };
  };

  it('in a personal chat: why the user gets it, the stop button, or reply stop', () => {
    const { footer, button } = footerAndButton('personal');
    expect(footer).toBe("You get this because Teams Notify sends you notifications. Don't want them? Select **Stop these notifications** or reply **stop**.");
    expect(button).toMatchObject({ title: 'Stop these notifications', data: { teamsNotify: 'optOut' } });
  });

  it('in a channel: @mention the app with stop, or the button, and both mute it for everyone', () => {
    const { footer, button } = footerAndButton('channel');
    expect(footer).toContain('@mention Teams Notify with **stop**');
    expect(footer).toMatch(/this channel/);
    expect(footer).toMatch(/for everyone/);
    expect(footer).not.toMatch(/reply \*\*stop\*\*/);
    expect(button?.title).toBe('Mute this channel for everyone');
    expect(footer).toContain(`**${button?.title}**`);
    // The same submit as in a personal chat: the bot reads it by where it was pressed.
    expect(commandOf({ value: button?.data })).toBe('stop');
  });

  it('in a group chat: the same, about this chat', () => {
    const { footer, button } = footerAndButton('groupChat');
    expect(footer).toContain('@mention Teams Notify with **stop**');
    expect(footer).toMatch(/this chat/);
    expect(footer).not.toMatch(/channel/);
    expect(button?.title).toBe('Mute this chat for everyone');
    expect(commandOf({ value: button?.data })).toBe('stop');
  });

  it('a content message gets no footer, wherever it lands: the sender made it', () => {
    const given = card([{ type: 'TextBlock', text: 'Build 42 passed' }]);
    for (const landsIn of ['personal', 'channel', 'groupChat'] as const) {
      expect(renderMessage({ text: 'only text' }, { appName: 'App', landsIn })).toEqual({ text: 'only text' });
      expect(renderMessage({ card: given }, { appName: 'App', landsIn }).card).toEqual(given);
    }
  });
});

describe('renderMessage: content messages and their preview', () => {
  it('passes text, card and summary through as given', () => {
    const given = card([{ type: 'TextBlock', text: '${notATemplate}' }]);
    expect(renderMessage({ text: '**bold**', card: given, summary: 'preview' }, personal())).toEqual({ text: '**bold**', card: given, summary: 'preview' });
    expect(renderMessage({ text: 'only text' }, personal())).toEqual({ text: 'only text' });
  });

  it('a card without summary or text previews its first TextBlock', () => {
    const given = card([{ type: 'Image', url: 'https://x.example/a.png' }, { type: 'TextBlock', text: 'Build 42 passed' }, { type: 'TextBlock', text: 'second' }]);
    expect(renderMessage({ card: given }, personal())).toEqual({ card: given, summary: 'Build 42 passed' });
  });

  it('a card with text is previewed by Teams from the text: no summary is made up', () => {
    const given = card([{ type: 'TextBlock', text: 'from the card' }]);
    expect(renderMessage({ text: 'the text', card: given }, personal())).toEqual({ text: 'the text', card: given });
  });

  it('a card with no text anywhere gets no summary', () => {
    const given = card([{ type: 'Image', url: 'https://x.example/a.png' }, { type: 'TextBlock', text: '  \n ' }]);
    expect(renderMessage({ card: given }, personal())).toEqual({ card: given });
  });
});
